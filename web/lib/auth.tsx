'use client';

/** Who is signed in: the bearer token (sessionStorage) and `GET /v1/me`. */

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { useRouter } from 'next/navigation';
import { api, getToken, setToken } from './api';
import type { Me, Token } from './types';

interface Auth {
  /** false until the token has been read from sessionStorage (after the first render) */
  ready: boolean;
  signedIn: boolean;
  /** true once the user signed out here (pages behind sign-in then go to sign-in plainly) */
  signedOut: boolean;
  me: Me | null;
  signIn: (email: string, password: string) => Promise<void>;
  signOut: () => void;
  refresh: () => Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [ready, setReady] = useState(false);
  const [signedIn, setSignedIn] = useState(false);
  const [signedOut, setSignedOut] = useState(false);
  const [me, setMe] = useState<Me | null>(null);

  const refresh = useCallback(async () => {
    if (!getToken()) return;
    setMe(await api<Me>('/v1/me'));
  }, []);

  useEffect(() => {
    setSignedIn(getToken() !== null);
    setReady(true);
    refresh().catch(() => setMe(null));
  }, [refresh]);

  const signIn = useCallback(
    async (email: string, password: string) => {
      const token = await api<Token>('/v1/auth/token', {
        method: 'POST',
        form: { username: email, password },
      });
      setToken(token.access_token);
      setSignedIn(true);
      setSignedOut(false);
      refresh().catch(() => setMe(null)); // the next page need not wait for the profile
    },
    [refresh],
  );

  const signOut = useCallback(() => {
    setToken(null);
    setSignedIn(false);
    setSignedOut(true);
    setMe(null);
  }, []);

  const value = useMemo(
    () => ({ ready, signedIn, signedOut, me, signIn, signOut, refresh }),
    [ready, signedIn, signedOut, me, signIn, signOut, refresh],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (auth === null) throw new Error('useAuth outside AuthProvider');
  return auth;
}

/** For pages behind sign-in: sends a visitor without a token to the sign-in page. */
export function useRequireAuth(): Auth {
  const auth = useAuth();
  const router = useRouter();
  useEffect(() => {
    if (auth.ready && !auth.signedIn) {
      const here = window.location.pathname + window.location.search;
      router.replace(auth.signedOut ? '/signin/' : `/signin/?next=${encodeURIComponent(here)}`);
    }
  }, [auth.ready, auth.signedIn, auth.signedOut, router]);
  return auth;
}

'use client';

import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { Suspense, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Alert, ProblemAlert } from '@/components/Alert';
import { api } from '@/lib/api';

function Verify() {
  const { t } = useTranslation();
  const token = useSearchParams().get('token');
  const [state, setState] = useState<'checking' | 'verified' | 'failed'>('checking');
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!token) return;
    api('/v1/auth/verify', { method: 'POST', json: { token } })
      .then(() => setState('verified'))
      .catch((failure: unknown) => {
        setError(failure);
        setState('failed');
      });
  }, [token]);

  if (!token) return <Alert>{t('auth.noToken')}</Alert>;
  if (state === 'checking') return <p role="status">{t('auth.verifying')}</p>;
  if (state === 'failed') return <ProblemAlert error={error} />;
  return (
    <>
      <Alert kind="notice">{t('auth.verified')}</Alert>
      <Link href="/projects/" className="text-indigo-800 underline">
        {t('nav.projects')}
      </Link>
    </>
  );
}

export default function VerifyPage() {
  const { t } = useTranslation();
  return (
    <section className="max-w-md">
      <h1 className="text-2xl font-bold">{t('auth.verifyHeading')}</h1>
      <Suspense>
        <Verify />
      </Suspense>
    </section>
  );
}

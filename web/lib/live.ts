'use client';

/** A production followed live: Server-Sent Events with a short-lived stream token (an
 * EventSource cannot send a header), falling back to polling `GET /v1/productions/{id}`. */

import { useCallback, useEffect, useRef, useState } from 'react';
import type { MutableRefObject } from 'react';
import { api } from './api';
import type { Production } from './types';

export const FINISHED = ['completed', 'failed', 'cancelled'];
const POLL_MS = 2000;

export interface Tick {
  stage: string;
  unit: string;
  status: string;
  detail: string;
}

export interface Live {
  production: Production | null;
  error: unknown;
  mode: 'connecting' | 'live' | 'polling' | 'done';
  lastTick: Tick | null;
  refresh: () => Promise<void>;
}

/** Keep the overall figure from stepping back when answers arrive out of order. */
function forward(previous: Production | null, next: Production): Production {
  if (previous === null || previous.production_id !== next.production_id) return next;
  return next.progress < previous.progress ? { ...next, progress: previous.progress } : next;
}

function stopPolling(timer: MutableRefObject<ReturnType<typeof setInterval> | null>): void {
  if (timer.current !== null) clearInterval(timer.current);
  timer.current = null;
}

export function useLiveProduction(id: string): Live {
  const [production, setProduction] = useState<Production | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [mode, setMode] = useState<Live['mode']>('connecting');
  const [lastTick, setLastTick] = useState<Tick | null>(null);
  const stopped = useRef(false);
  const timer = useRef<ReturnType<typeof setInterval> | null>(null);

  const refresh = useCallback(async () => {
    try {
      const fresh = await api<Production>(`/v1/productions/${id}`);
      setProduction((previous) => forward(previous, fresh));
      setError(null);
      if (FINISHED.includes(fresh.status)) {
        stopPolling(timer);
        setMode('done');
      }
    } catch (failure) {
      setError(failure);
    }
  }, [id]);

  useEffect(() => {
    stopped.current = false;
    let source: EventSource | null = null;

    const poll = () => {
      source?.close();
      if (stopped.current || timer.current !== null) return;
      setMode('polling');
      void refresh();
      timer.current = setInterval(() => void refresh(), POLL_MS);
    };

    const listen = async () => {
      await refresh(); // waits for the read model to show the production (read-your-writes)
      if (stopped.current) return;
      try {
        const { token } = await api<{ token: string }>(`/v1/productions/${id}/stream-token`, { method: 'POST' });
        if (stopped.current) return;
        source = new EventSource(`/v1/productions/${id}/events?token=${encodeURIComponent(token)}`);
      } catch {
        poll();
        return;
      }
      source.addEventListener('open', () => setMode('live'));
      source.addEventListener('snapshot', (event) => {
        const fresh = JSON.parse((event as MessageEvent<string>).data) as Production;
        setProduction((previous) => forward(previous, fresh));
        setMode('live');
      });
      source.addEventListener('tick', (event) => {
        setLastTick(JSON.parse((event as MessageEvent<string>).data) as Tick);
      });
      source.addEventListener('end', () => {
        source?.close();
        stopped.current = true;
        setMode('done');
        void refresh(); // the final figures and links
      });
      source.addEventListener('error', () => poll());
    };

    void listen();
    return () => {
      stopped.current = true;
      source?.close();
      stopPolling(timer);
    };
  }, [id, refresh]);

  return { production, error, mode, lastTick, refresh };
}

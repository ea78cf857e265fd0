'use client';

import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ProblemAlert } from '@/components/Alert';
import { Button } from '@/components/Button';
import { api } from '@/lib/api';
import { useRequireAuth } from '@/lib/auth';
import type { CreditsOut, Plan } from '@/lib/types';
import { useApiData } from '@/lib/useApiData';

function price(plan: Plan, language: string): string {
  return new Intl.NumberFormat(language, { style: 'currency', currency: plan.currency.toUpperCase() }).format(
    plan.amount_cents / 100,
  );
}

export default function CreditsPage() {
  const { t, i18n } = useTranslation();
  const { signedIn } = useRequireAuth();
  const credits = useApiData<CreditsOut>(signedIn ? '/v1/credits' : null);
  const plans = useApiData<Plan[]>(signedIn ? '/v1/billing/plans' : null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState('');

  /** Send the browser to the payment provider's page the API answers. */
  const go = async (key: string, path: string, json?: unknown) => {
    setBusy(key);
    setError(null);
    try {
      const redirect = await api<{ url: string }>(path, { method: 'POST', json });
      window.location.assign(redirect.url);
    } catch (failure) {
      setError(failure);
      setBusy('');
    }
  };

  const data = credits.data;
  return (
    <section>
      <h1 className="text-2xl font-bold">{t('credits.heading')}</h1>
      <ProblemAlert error={credits.error ?? plans.error} />
      <ProblemAlert error={error} />
      {data && (
        <dl className="my-4 grid max-w-md grid-cols-3 gap-2 rounded border bg-white p-3 text-center">
          <div>
            <dt className="text-sm">{t('credits.balance')}</dt>
            <dd className="text-2xl font-bold">{data.balance}</dd>
          </div>
          <div>
            <dt className="text-sm">{t('credits.reserved')}</dt>
            <dd className="text-2xl font-bold">{data.reserved}</dd>
          </div>
          <div>
            <dt className="text-sm">{t('credits.owed')}</dt>
            <dd className="text-2xl font-bold">{data.owed}</dd>
          </div>
        </dl>
      )}
      <h2 className="mt-6 text-xl font-semibold">{t('credits.plansHeading')}</h2>
      {plans.data && plans.data.length === 0 && <p>{t('credits.noPlans')}</p>}
      <ul className="my-3 grid gap-3 md:grid-cols-2">
        {plans.data?.map((plan) => (
          <li key={plan.id} className="rounded border bg-white p-3">
            <h3 className="font-semibold">{plan.name}</h3>
            <p>
              {t('credits.planCredits', { credits: plan.credits })} · {price(plan, i18n.language)}
              {plan.interval && ` · ${t('credits.every', { interval: plan.interval })}`}
            </p>
            <Button className="mt-2" busy={busy === plan.id} onClick={() => go(plan.id, '/v1/billing/checkout', { plan: plan.id })}>
              {t('credits.buy', { name: plan.name })}
            </Button>
          </li>
        ))}
      </ul>
      {data?.subscription && (
        <p>{t('credits.subscription', { plan: data.subscription.plan_id, status: data.subscription.status })}</p>
      )}
      <Button variant="secondary" busy={busy === 'portal'} onClick={() => go('portal', '/v1/billing/portal')}>
        {t('credits.manage')}
      </Button>
      {data && data.invoices.length > 0 && (
        <>
          <h2 className="mt-6 text-xl font-semibold">{t('credits.invoices')}</h2>
          <ul className="my-2 list-disc pl-6">
            {data.invoices.map((url, index) => (
              <li key={url}>
                <a href={url} className="text-indigo-800 underline" rel="noopener noreferrer" target="_blank">
                  {t('credits.invoice', { n: index + 1 })}
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
      <h2 className="mt-6 text-xl font-semibold">{t('credits.ledgerHeading')}</h2>
      {data && data.ledger.length === 0 && <p>{t('credits.noLedger')}</p>}
      {data && data.ledger.length > 0 && (
        <table className="my-3 w-full border-collapse bg-white text-left">
          <thead>
            <tr className="border-b">
              <th scope="col" className="p-2">{t('credits.when')}</th>
              <th scope="col" className="p-2">{t('credits.kind')}</th>
              <th scope="col" className="p-2 text-right">{t('credits.amount')}</th>
              <th scope="col" className="p-2">{t('credits.reason')}</th>
            </tr>
          </thead>
          <tbody>
            {data.ledger.map((entry) => (
              <tr key={entry.event_id} className="border-b">
                <td className="p-2">{new Date(entry.occurred_at).toLocaleString(i18n.language)}</td>
                <td className="p-2">{entry.kind}</td>
                <td className="p-2 text-right">{entry.amount}</td>
                <td className="p-2">{entry.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

'use client';

import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { NoticeAlert, ProblemAlert } from '@/components/Alert';
import type { Notice } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field } from '@/components/Field';
import { api } from '@/lib/api';
import { useRequireAuth } from '@/lib/auth';
import type { AdminProduction, AdminUser, DeadLetter } from '@/lib/types';
import { useApiData } from '@/lib/useApiData';

interface Grant {
  amount: string;
  reason: string;
}

/** One user: their balance, a grant form, and erasure. */
function UserCard({ user, onChanged }: { user: AdminUser; onChanged: () => Promise<void> }) {
  const { t } = useTranslation();
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [erasing, setErasing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const { register, handleSubmit, reset, formState } = useForm<Grant>({ defaultValues: { amount: '', reason: '' } });
  const headingId = `user-${user.user_id}`;

  const grant = async (form: Grant) => {
    setError(null);
    setNotice(null);
    const amount = Number(form.amount);
    try {
      await api(`/v1/admin/users/${user.user_id}/credits`, {
        method: 'POST',
        json: { amount, reason: form.reason },
      });
      setNotice({ key: 'admin.granted', values: { amount, email: user.email } });
      reset();
      await onChanged();
    } catch (failure) {
      setError(failure);
    }
  };

  const erase = async () => {
    setErasing(true);
    setError(null);
    setNotice(null);
    try {
      await api(`/v1/admin/users/${user.user_id}/erase`, { method: 'POST' });
      setNotice({ key: 'admin.erased', values: { email: user.email } });
      await onChanged();
    } catch (failure) {
      setError(failure);
    } finally {
      setErasing(false);
      setConfirming(false);
    }
  };

  return (
    <li className="rounded border bg-white p-3">
      <h3 id={headingId} className="font-semibold">
        {user.email}
      </h3>
      <p className="text-sm">
        {user.display_name} · {t('admin.role')}: {user.role} · {t('admin.balance')}: {user.balance} (
        {t('credits.reserved')}: {user.reserved})
      </p>
      <ProblemAlert error={error} />
      <NoticeAlert notice={notice} />
      <form
        aria-labelledby={headingId}
        onSubmit={handleSubmit(grant)}
        noValidate
        className="flex flex-wrap items-end gap-3"
      >
        <Field label={t('admin.credits')} type="number" min={1} inputMode="numeric" className="w-32" {...register('amount')} />
        <Field label={t('admin.reason')} maxLength={500} {...register('reason')} />
        <div className="my-3">
          <Button type="submit" busy={formState.isSubmitting}>
            {t('admin.grant')}
          </Button>
        </div>
      </form>
      {confirming ? (
        <div className="flex flex-wrap items-center gap-2">
          <Button variant="danger" busy={erasing} onClick={erase}>
            {t('admin.confirmErase', { email: user.email })}
          </Button>
          <Button variant="secondary" onClick={() => setConfirming(false)}>
            {t('admin.keep')}
          </Button>
        </div>
      ) : (
        <Button variant="danger" onClick={() => setConfirming(true)}>
          {t('admin.erase')} <span className="sr-only">{user.email}</span>
        </Button>
      )}
    </li>
  );
}

export default function AdminPage() {
  const { t, i18n } = useTranslation();
  const { signedIn } = useRequireAuth();
  const users = useApiData<AdminUser[]>(signedIn ? '/v1/admin/users' : null);
  const productions = useApiData<AdminProduction[]>(signedIn ? '/v1/admin/productions' : null);
  const deadLetters = useApiData<DeadLetter[]>(signedIn ? '/v1/admin/dead-letters' : null);
  const when = (at: string) => new Date(at).toLocaleString(i18n.language);

  return (
    <section>
      <h1 className="text-2xl font-bold">{t('admin.heading')}</h1>
      <section aria-labelledby="users-heading" className="my-4">
        <h2 id="users-heading" className="text-xl font-semibold">
          {t('admin.usersHeading')}
        </h2>
        <ProblemAlert error={users.error} />
        <ul className="my-3 space-y-3">
          {users.data?.map((user) => <UserCard key={user.user_id} user={user} onChanged={users.reload} />)}
        </ul>
      </section>
      <section aria-labelledby="productions-heading" className="my-6">
        <h2 id="productions-heading" className="text-xl font-semibold">
          {t('admin.productionsHeading')}
        </h2>
        <ProblemAlert error={productions.error} />
        {productions.data?.length === 0 && <p>{t('admin.noProductions')}</p>}
        {productions.data && productions.data.length > 0 && (
          <table className="my-3 w-full border-collapse bg-white text-left text-sm">
            <thead>
              <tr className="border-b">
                <th scope="col" className="p-2">{t('production.heading')}</th>
                <th scope="col" className="p-2">{t('admin.owner')}</th>
                <th scope="col" className="p-2">{t('admin.status')}</th>
                <th scope="col" className="p-2">{t('admin.requested')}</th>
                <th scope="col" className="p-2 text-right">{t('admin.progress')}</th>
              </tr>
            </thead>
            <tbody>
              {productions.data.map((row) => (
                <tr key={row.production_id} className="border-b">
                  <td className="p-2 font-mono">{row.production_id}</td>
                  <td className="p-2">{row.owner}</td>
                  <td className="p-2">{row.status}</td>
                  <td className="p-2">{when(row.requested_at)}</td>
                  <td className="p-2 text-right">{Math.round(row.progress * 100)}%</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="dead-heading" className="my-6">
        <h2 id="dead-heading" className="text-xl font-semibold">
          {t('admin.deadLettersHeading')}
        </h2>
        <ProblemAlert error={deadLetters.error} />
        {deadLetters.data?.length === 0 && <p>{t('admin.noDeadLetters')}</p>}
        {deadLetters.data && deadLetters.data.length > 0 && (
          <table className="my-3 w-full border-collapse bg-white text-left text-sm">
            <thead>
              <tr className="border-b">
                <th scope="col" className="p-2">{t('admin.group')}</th>
                <th scope="col" className="p-2">{t('admin.topic')}</th>
                <th scope="col" className="p-2">{t('admin.errorType')}</th>
                <th scope="col" className="p-2">{t('admin.error')}</th>
                <th scope="col" className="p-2">{t('admin.at')}</th>
              </tr>
            </thead>
            <tbody>
              {deadLetters.data.map((row, index) => (
                <tr key={`${row.topic}-${row.at}-${index}`} className="border-b">
                  <td className="p-2">{row.group}</td>
                  <td className="p-2">{row.topic}</td>
                  <td className="p-2">{row.error_type}</td>
                  <td className="p-2 break-all">{row.error}</td>
                  <td className="p-2">{when(row.at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}

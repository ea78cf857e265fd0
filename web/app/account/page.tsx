'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { NoticeAlert, ProblemAlert } from '@/components/Alert';
import type { Notice } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field, Select } from '@/components/Field';
import { api } from '@/lib/api';
import { useRequireAuth } from '@/lib/auth';
import type { Me } from '@/lib/types';
import { useApiData } from '@/lib/useApiData';

const EMAIL_LANGUAGES = ['en', 'hi'];

function Profile({ me, onSaved }: { me: Me; onSaved: () => Promise<void> }) {
  const { t } = useTranslation();
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const { register, handleSubmit, formState } = useForm({ defaultValues: { display_name: me.display_name } });
  const onSubmit = async (form: { display_name: string }) => {
    setError(null);
    setNotice(null);
    try {
      await api('/v1/me', { method: 'PATCH', json: form });
      setNotice({ key: 'account.profileSaved' });
      await onSaved();
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section aria-labelledby="profile-heading" className="my-4">
      <h2 id="profile-heading" className="text-xl font-semibold">
        {t('account.profileHeading')}
      </h2>
      <p>{t('account.email', { email: me.email })}</p>
      <p>{me.verified ? t('account.verified') : t('account.unverified')}</p>
      <ProblemAlert error={error} />
      <NoticeAlert notice={notice} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate className="max-w-md">
        <Field
          label={t('account.displayName')}
          maxLength={100}
          error={formState.errors.display_name?.message}
          {...register('display_name', { required: t('auth.required') })}
        />
        <Button type="submit" busy={formState.isSubmitting}>
          {t('account.saveProfile')}
        </Button>
      </form>
    </section>
  );
}

function Preferences({ me, onSaved }: { me: Me; onSaved: () => Promise<void> }) {
  const { t } = useTranslation();
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const { register, handleSubmit, formState } = useForm({ defaultValues: me.email_preferences });
  const onSubmit = async (form: Me['email_preferences']) => {
    setError(null);
    setNotice(null);
    try {
      await api('/v1/me/email-preferences', { method: 'PATCH', json: form });
      setNotice({ key: 'account.prefsSaved' });
      await onSaved();
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <section aria-labelledby="prefs-heading" className="my-6">
      <h2 id="prefs-heading" className="text-xl font-semibold">
        {t('account.prefsHeading')}
      </h2>
      <ProblemAlert error={error} />
      <NoticeAlert notice={notice} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate className="max-w-md">
        <Select
          label={t('account.emailLanguage')}
          options={EMAIL_LANGUAGES.map((code) => [code, t(`languages.${code}`)])}
          {...register('language')}
        />
        <label className="my-3 flex items-center gap-2">
          <input type="checkbox" {...register('product_email')} />
          {t('account.productEmail')}
        </label>
        <Button type="submit" busy={formState.isSubmitting}>
          {t('account.savePrefs')}
        </Button>
      </form>
    </section>
  );
}

function DeleteAccount() {
  const { t } = useTranslation();
  const { signOut } = useRequireAuth();
  const router = useRouter();
  const [sure, setSure] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const erase = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('/v1/me', { method: 'DELETE' });
      signOut();
      router.push('/');
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="danger-heading" className="my-6 rounded border border-red-700 bg-white p-3">
      <h2 id="danger-heading" className="text-xl font-semibold">
        {t('account.dangerHeading')}
      </h2>
      <p className="my-2">{t('account.dangerLead')}</p>
      <ProblemAlert error={error} />
      <label className="my-3 flex items-center gap-2">
        <input type="checkbox" checked={sure} onChange={(event) => setSure(event.target.checked)} />
        {t('account.confirmDelete')}
      </label>
      <Button variant="danger" disabled={!sure} busy={busy} onClick={erase}>
        {t('account.delete')}
      </Button>
    </section>
  );
}

export default function AccountPage() {
  const { t } = useTranslation();
  const { signedIn, refresh } = useRequireAuth();
  const profile = useApiData<Me>(signedIn ? '/v1/me' : null);
  const me = profile.data;
  const onSaved = async () => {
    await Promise.all([profile.reload(), refresh()]);
  };
  return (
    <section>
      <h1 className="text-2xl font-bold">{t('account.heading')}</h1>
      <ProblemAlert error={profile.error} />
      {me === null ? (
        !profile.error && <p role="status">{t('app.loading')}</p>
      ) : (
        <>
          <Profile me={me} onSaved={onSaved} />
          <Preferences me={me} onSaved={onSaved} />
          <DeleteAccount />
        </>
      )}
    </section>
  );
}

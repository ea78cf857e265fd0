'use client';

import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { Suspense, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { Alert, ProblemAlert } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field } from '@/components/Field';
import { api } from '@/lib/api';
import type { Position } from '@/lib/types';

/** No token: ask for a reset link. */
function RequestLink() {
  const { t } = useTranslation();
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const { register, handleSubmit, formState } = useForm<{ email: string }>();

  const onSubmit = async (form: { email: string }) => {
    setError(null);
    setNotice('');
    try {
      const answer = await api<{ detail: string }>('/v1/auth/password-reset', {
        method: 'POST',
        json: form,
      });
      setNotice(answer.detail);
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <>
      <ProblemAlert error={error} />
      {notice && <Alert kind="notice">{notice}</Alert>}
      <form onSubmit={handleSubmit(onSubmit)} noValidate>
        <Field
          label={t('auth.email')}
          type="email"
          autoComplete="email"
          error={formState.errors.email?.message}
          {...register('email', { required: t('auth.required') })}
        />
        <Button type="submit" busy={formState.isSubmitting}>
          {t('auth.sendReset')}
        </Button>
      </form>
    </>
  );
}

/** With the e-mailed token: set the new password. */
function SetPassword({ token }: { token: string }) {
  const { t } = useTranslation();
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const { register, handleSubmit, formState } = useForm<{ password: string }>();

  const onSubmit = async (form: { password: string }) => {
    setError(null);
    try {
      await api<Position>('/v1/auth/password-reset/confirm', {
        method: 'POST',
        json: { token, password: form.password },
      });
      setDone(true);
    } catch (failure) {
      setError(failure);
    }
  };

  if (done) {
    return (
      <>
        <Alert kind="notice">{t('auth.passwordSet')}</Alert>
        <Link href="/signin/" className="text-indigo-800 underline">
          {t('auth.goSignIn')}
        </Link>
      </>
    );
  }
  return (
    <>
      <ProblemAlert error={error} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate>
        <Field
          label={t('auth.newPassword')}
          type="password"
          autoComplete="new-password"
          hint={t('auth.passwordHint')}
          error={formState.errors.password?.message}
          {...register('password', {
            required: t('auth.required'),
            minLength: { value: 10, message: t('auth.tooShort', { n: 10 }) },
          })}
        />
        <Button type="submit" busy={formState.isSubmitting}>
          {t('auth.setPassword')}
        </Button>
      </form>
    </>
  );
}

function Reset() {
  const token = useSearchParams().get('token');
  return token ? <SetPassword token={token} /> : <RequestLink />;
}

export default function ResetPasswordPage() {
  const { t } = useTranslation();
  return (
    <section className="max-w-md">
      <h1 className="text-2xl font-bold">{t('auth.resetHeading')}</h1>
      <Suspense>
        <Reset />
      </Suspense>
    </section>
  );
}

'use client';

import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { ProblemAlert } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field } from '@/components/Field';
import { useAuth } from '@/lib/auth';
import { nextPath } from '@/lib/next';

interface SignIn {
  email: string;
  password: string;
}

function SignInForm() {
  const { t } = useTranslation();
  const { signIn } = useAuth();
  const router = useRouter();
  const search = useSearchParams();
  const [error, setError] = useState<unknown>(null);
  const { register, handleSubmit, formState } = useForm<SignIn>();
  const { errors, isSubmitting } = formState;

  const onSubmit = async (form: SignIn) => {
    setError(null);
    try {
      await signIn(form.email, form.password);
      router.push(nextPath(search));
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <>
      <ProblemAlert error={error} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate>
        <Field
          label={t('auth.email')}
          type="email"
          autoComplete="username"
          error={errors.email?.message}
          {...register('email', { required: t('auth.required') })}
        />
        <Field
          label={t('auth.password')}
          type="password"
          autoComplete="current-password"
          error={errors.password?.message}
          {...register('password', { required: t('auth.required') })}
        />
        <Button type="submit" busy={isSubmitting}>
          {t('auth.signIn')}
        </Button>
      </form>
    </>
  );
}

export default function SignInPage() {
  const { t } = useTranslation();
  return (
    <section className="max-w-md">
      <h1 className="text-2xl font-bold">{t('auth.signInHeading')}</h1>
      <Suspense>
        <SignInForm />
      </Suspense>
      <p className="mt-6">
        <Link href="/reset-password/" className="text-indigo-800 underline">
          {t('auth.forgot')}
        </Link>
      </p>
      <p className="mt-2">
        {t('auth.noAccount')}{' '}
        <Link href="/signup/" className="text-indigo-800 underline">
          {t('auth.signUp')}
        </Link>
      </p>
    </section>
  );
}

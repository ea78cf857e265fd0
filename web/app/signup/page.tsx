'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { ProblemAlert } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field } from '@/components/Field';
import { api } from '@/lib/api';
import { useAuth } from '@/lib/auth';

interface SignUp {
  display_name: string;
  email: string;
  password: string;
}

export default function SignUpPage() {
  const { t } = useTranslation();
  const { signIn } = useAuth();
  const router = useRouter();
  const [error, setError] = useState<unknown>(null);
  const { register, handleSubmit, formState } = useForm<SignUp>();
  const { errors, isSubmitting } = formState;

  const onSubmit = async (form: SignUp) => {
    setError(null);
    try {
      await api('/v1/auth/register', { method: 'POST', json: form });
      await signIn(form.email, form.password);
      router.push('/projects/');
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section className="max-w-md">
      <h1 className="text-2xl font-bold">{t('auth.signUpHeading')}</h1>
      <ProblemAlert error={error} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate>
        <Field
          label={t('auth.displayName')}
          autoComplete="name"
          error={errors.display_name?.message}
          {...register('display_name', { required: t('auth.required') })}
        />
        <Field
          label={t('auth.email')}
          type="email"
          autoComplete="email"
          error={errors.email?.message}
          {...register('email', { required: t('auth.required') })}
        />
        <Field
          label={t('auth.password')}
          type="password"
          autoComplete="new-password"
          hint={t('auth.passwordHint')}
          error={errors.password?.message}
          {...register('password', {
            required: t('auth.required'),
            minLength: { value: 10, message: t('auth.tooShort', { n: 10 }) },
          })}
        />
        <Button type="submit" busy={isSubmitting}>
          {t('auth.createAccount')}
        </Button>
      </form>
      <p className="mt-6">
        {t('auth.haveAccount')}{' '}
        <Link href="/signin/" className="text-indigo-800 underline">
          {t('auth.signIn')}
        </Link>
      </p>
    </section>
  );
}

'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { useAuth } from '@/lib/auth';

export default function Landing() {
  const { t } = useTranslation();
  const { ready, signedIn } = useAuth();
  const router = useRouter();
  useEffect(() => {
    if (ready && signedIn) router.replace('/projects/');
  }, [ready, signedIn, router]);
  return (
    <section className="py-10">
      <h1 className="text-3xl font-bold">{t('landing.heading')}</h1>
      <p className="my-4 max-w-prose text-lg">{t('landing.lead')}</p>
      <p className="flex gap-4">
        <Link href="/signin/" className="rounded bg-indigo-700 px-4 py-2 font-medium text-white">
          {t('landing.signIn')}
        </Link>
        <Link href="/signup/" className="rounded border border-indigo-700 px-4 py-2 font-medium text-indigo-900">
          {t('landing.signUp')}
        </Link>
      </p>
    </section>
  );
}

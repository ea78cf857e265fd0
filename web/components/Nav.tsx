'use client';

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useTranslation } from 'react-i18next';
import { useAuth } from '@/lib/auth';
import { LANGUAGES, chooseLanguage } from '@/lib/i18n';
import type { UiLanguage } from '@/lib/i18n';

const LINK = 'rounded px-2 py-1 text-white underline-offset-4 hover:underline';

/** The header: the studio's name, the signed-in creator's links, and the language switch. */
export function Nav() {
  const { t, i18n } = useTranslation();
  const { signedIn, me, signOut } = useAuth();
  const router = useRouter();
  return (
    <header className="bg-indigo-900 text-white">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:bg-white focus:p-2 focus:text-black">
        {t('app.skip')}
      </a>
      <div className="mx-auto flex max-w-4xl flex-wrap items-center gap-3 px-4 py-3">
        <Link href={signedIn ? '/projects/' : '/'} className="mr-auto text-lg font-bold text-white">
          {t('app.name')}
        </Link>
        {signedIn && (
          <nav aria-label={t('nav.label')}>
            <ul className="flex flex-wrap items-center gap-1">
              <li><Link className={LINK} href="/projects/">{t('nav.projects')}</Link></li>
              <li><Link className={LINK} href="/voices/">{t('nav.voices')}</Link></li>
              <li><Link className={LINK} href="/credits/">{t('nav.credits')}</Link></li>
              <li><Link className={LINK} href="/account/">{t('nav.account')}</Link></li>
              {me?.role === 'admin' && (
                <li><Link className={LINK} href="/admin/">{t('nav.admin')}</Link></li>
              )}
              <li>
                <button
                  type="button"
                  className="rounded border border-white px-2 py-1"
                  onClick={() => {
                    signOut();
                    router.push('/signin/');
                  }}
                >
                  {t('nav.signOut')}
                </button>
              </li>
            </ul>
          </nav>
        )}
        <label htmlFor="ui-language" className="text-sm">
          {t('nav.language')}
        </label>
        <select
          id="ui-language"
          className="rounded px-2 py-1 text-slate-900"
          value={i18n.language}
          onChange={(event) => chooseLanguage(event.target.value as UiLanguage)}
        >
          {Object.entries(LANGUAGES).map(([code, name]) => (
            <option key={code} value={code} lang={code}>
              {name}
            </option>
          ))}
        </select>
      </div>
    </header>
  );
}

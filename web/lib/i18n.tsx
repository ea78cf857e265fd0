'use client';

/** UI strings in English and Hindi (i18next); the chosen language is kept in localStorage and
 * set as the document's `lang`. */

import i18next from 'i18next';
import { useEffect } from 'react';
import type { ReactNode } from 'react';
import { I18nextProvider, initReactI18next } from 'react-i18next';
import en from '@/locales/en/common.json';
import hi from '@/locales/hi/common.json';

export const LANGUAGES = { en: 'English', hi: 'हिन्दी' } as const;
export type UiLanguage = keyof typeof LANGUAGES;
const LANGUAGE_KEY = 'filmstudio.language';

const i18n = i18next.createInstance();
void i18n.use(initReactI18next).init({
  resources: { en: { common: en }, hi: { common: hi } },
  lng: 'en', // the static pages are rendered in English; the stored choice applies on mount
  fallbackLng: 'en',
  defaultNS: 'common',
  interpolation: { escapeValue: false }, // React escapes
  initImmediate: false,
});

i18n.on('languageChanged', (language) => {
  if (typeof document !== 'undefined') document.documentElement.lang = language;
});

export function chooseLanguage(language: UiLanguage): void {
  window.localStorage.setItem(LANGUAGE_KEY, language);
  void i18n.changeLanguage(language);
}

export function I18nProvider({ children }: { children: ReactNode }) {
  useEffect(() => {
    const stored = window.localStorage.getItem(LANGUAGE_KEY);
    if (stored && stored in LANGUAGES && stored !== i18n.language) {
      void i18n.changeLanguage(stored);
    }
  }, []);
  return <I18nextProvider i18n={i18n}>{children}</I18nextProvider>;
}

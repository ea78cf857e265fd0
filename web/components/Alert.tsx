'use client';

import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { FieldError } from '@/lib/api';
import { ApiProblem, reasonOf } from '@/lib/api';

/** A message region: errors are announced (`role="alert"`), notices politely (`role="status"`). */
export function Alert({ kind = 'error', children }: { kind?: 'error' | 'notice'; children: ReactNode }) {
  const style =
    kind === 'error'
      ? 'border-red-700 bg-red-50 text-red-900'
      : 'border-emerald-700 bg-emerald-50 text-emerald-900';
  return (
    <div role={kind === 'error' ? 'alert' : 'status'} className={`my-3 rounded border-l-4 p-3 ${style}`}>
      {children}
    </div>
  );
}

function fieldName(error: FieldError): string {
  return error.loc.filter((part) => part !== 'body').join('.');
}

/** The API's reason for a refused action (its `detail`, and each field's problem). */
export function ProblemAlert({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const fields = error instanceof ApiProblem ? error.errors : [];
  return (
    <Alert>
      <p>{reasonOf(error)}</p>
      {fields.length > 0 && (
        <ul className="ml-5 list-disc">
          {fields.map((field) => (
            <li key={`${fieldName(field)}:${field.msg}`}>
              {fieldName(field)}: {field.msg}
            </li>
          ))}
        </ul>
      )}
    </Alert>
  );
}

/** A notice kept as a key of the locale files and its values, so it follows the language. */
export type Notice = { key: string; values?: Record<string, unknown> } | null;

export function NoticeAlert({ notice }: { notice: Notice }) {
  const { t } = useTranslation();
  return notice ? <Alert kind="notice">{t(notice.key, notice.values)}</Alert> : null;
}

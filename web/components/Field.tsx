import { forwardRef, useId } from 'react';
import type { InputHTMLAttributes, ReactNode, SelectHTMLAttributes, TextareaHTMLAttributes } from 'react';

const INPUT = 'mt-1 block w-full rounded border border-slate-500 px-3 py-2';

interface Labelled {
  label: string;
  hint?: ReactNode;
  error?: string;
}

function Wrap({ id, label, hint, error, children }: Labelled & { id: string; children: ReactNode }) {
  return (
    <div className="my-3">
      <label htmlFor={id} className="block font-medium">
        {label}
      </label>
      {children}
      {hint && (
        <p id={`${id}-hint`} className="text-sm text-slate-700">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="text-sm text-red-800">
          {error}
        </p>
      )}
    </div>
  );
}

function describedBy(id: string, hint?: ReactNode, error?: string): string | undefined {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean);
  return ids.length ? ids.join(' ') : undefined;
}

/** A labelled input (works with React Hook Form's `register`). */
export const Field = forwardRef<HTMLInputElement, Labelled & InputHTMLAttributes<HTMLInputElement>>(
  function Field({ label, hint, error, id, className = '', ...rest }, ref) {
    const auto = useId();
    const inputId = id ?? auto;
    return (
      <Wrap id={inputId} label={label} hint={hint} error={error}>
        <input
          ref={ref}
          id={inputId}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy(inputId, hint, error)}
          className={`${INPUT} ${className}`}
          {...rest}
        />
      </Wrap>
    );
  },
);

/** A labelled textarea. */
export const TextArea = forwardRef<
  HTMLTextAreaElement,
  Labelled & TextareaHTMLAttributes<HTMLTextAreaElement>
>(function TextArea({ label, hint, error, id, className = '', ...rest }, ref) {
  const auto = useId();
  const inputId = id ?? auto;
  return (
    <Wrap id={inputId} label={label} hint={hint} error={error}>
      <textarea
        ref={ref}
        id={inputId}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(inputId, hint, error)}
        className={`${INPUT} font-mono ${className}`}
        {...rest}
      />
    </Wrap>
  );
});

/** A labelled select. */
export const Select = forwardRef<
  HTMLSelectElement,
  Labelled & SelectHTMLAttributes<HTMLSelectElement> & { options: [string, string][] }
>(function Select({ label, hint, error, id, options, className = '', ...rest }, ref) {
  const auto = useId();
  const inputId = id ?? auto;
  return (
    <Wrap id={inputId} label={label} hint={hint} error={error}>
      <select
        ref={ref}
        id={inputId}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(inputId, hint, error)}
        className={`${INPUT} ${className}`}
        {...rest}
      >
        {options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </Wrap>
  );
});

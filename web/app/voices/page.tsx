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
import type { VoiceSample } from '@/lib/types';
import { useApiData } from '@/lib/useApiData';

interface Upload {
  name: string;
  sample: FileList;
}

export default function VoicesPage() {
  const { t } = useTranslation();
  const { signedIn } = useRequireAuth();
  const samples = useApiData<VoiceSample[]>(signedIn ? '/v1/voices' : null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [removing, setRemoving] = useState('');
  const { register, handleSubmit, reset, formState } = useForm<Upload>();

  const onSubmit = async (form: Upload) => {
    setError(null);
    setNotice(null);
    const body = new FormData();
    body.append('name', form.name);
    body.append('sample', form.sample[0]);
    try {
      await api('/v1/voices', { method: 'POST', multipart: body });
      setNotice({ key: 'voices.uploaded' });
      reset();
      await samples.reload();
    } catch (failure) {
      setError(failure);
    }
  };

  const remove = async (sample: VoiceSample) => {
    setRemoving(sample.sample_id);
    setError(null);
    setNotice(null);
    try {
      await api(`/v1/voices/${sample.sample_id}`, { method: 'DELETE' });
      setNotice({ key: 'voices.removed' });
      await samples.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setRemoving('');
    }
  };

  return (
    <section>
      <h1 className="text-2xl font-bold">{t('voices.heading')}</h1>
      <p className="my-2 max-w-prose">{t('voices.lead')}</p>
      <ProblemAlert error={samples.error ?? error} />
      <NoticeAlert notice={notice} />
      {samples.data && samples.data.length === 0 && <p>{t('voices.empty')}</p>}
      {samples.data && samples.data.length > 0 && (
        <ul className="my-3 divide-y rounded border bg-white">
          {samples.data.map((sample) => (
            <li key={sample.sample_id} className="flex items-center gap-3 p-2">
              <span className="mr-auto">
                {sample.name} ({t('voices.seconds', { seconds: sample.seconds.toFixed(1) })})
              </span>
              <Button
                variant="secondary"
                busy={removing === sample.sample_id}
                onClick={() => remove(sample)}
              >
                {t('voices.remove')} <span className="sr-only">{sample.name}</span>
              </Button>
            </li>
          ))}
        </ul>
      )}
      <h2 className="mt-6 text-xl font-semibold">{t('voices.uploadHeading')}</h2>
      <form onSubmit={handleSubmit(onSubmit)} noValidate className="max-w-md">
        <Field
          label={t('voices.name')}
          maxLength={200}
          error={formState.errors.name?.message}
          {...register('name', { required: t('auth.required') })}
        />
        <Field
          label={t('voices.sample')}
          type="file"
          accept="audio/*"
          error={formState.errors.sample?.message}
          {...register('sample', { required: t('auth.required') })}
        />
        <Button type="submit" busy={formState.isSubmitting}>
          {t('voices.upload')}
        </Button>
      </form>
    </section>
  );
}

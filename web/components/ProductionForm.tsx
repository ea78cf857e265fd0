'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { ProblemAlert } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field, Select } from '@/components/Field';
import { api } from '@/lib/api';
import { ASPECT_RATIOS, QUALITIES, SCRIPT_LANGUAGES, builtinVoices } from '@/lib/options';
import type { Estimate, ProductionAccepted, ProjectDetail, VoiceSample } from '@/lib/types';

interface Options {
  quality: 'draft' | 'final';
  aspect_ratio: string;
  languages: string[];
  style: string;
  voices: string[];
}

/** The estimate in credits of the saved script at a quality. */
function EstimateFor({ project, quality }: { project: ProjectDetail; quality: string }) {
  const { t } = useTranslation();
  const [estimate, setEstimate] = useState<Estimate | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!project.revision) return;
    api<Estimate>(`/v1/projects/${project.project_id}/estimate`, { query: { quality } })
      .then((answer) => {
        setEstimate(answer);
        setError(null);
      })
      .catch(setError);
  }, [project.project_id, project.revision, quality]);
  return (
    <section aria-labelledby="estimate-heading" className="my-4 rounded border bg-white p-3">
      <h3 id="estimate-heading" className="font-semibold">
        {t('editor.estimateHeading')}
      </h3>
      <ProblemAlert error={error} />
      <p aria-live="polite">
        {!project.revision
          ? t('editor.saveFirst')
          : estimate &&
            t('editor.estimateValue', { credits: estimate.credits, seconds: Math.round(estimate.seconds) })}
      </p>
    </section>
  );
}

/** Start a production of the saved script, with its options and a voice per character. */
export function ProductionForm({ project, cast }: { project: ProjectDetail; cast: string[] }) {
  const { t } = useTranslation();
  const router = useRouter();
  const [error, setError] = useState<unknown>(null);
  const [samples, setSamples] = useState<VoiceSample[]>([]);
  const { register, handleSubmit, watch, formState } = useForm<Options>({
    defaultValues: {
      quality: 'draft',
      aspect_ratio: project.aspect_ratio,
      languages: [],
      style: '',
      voices: [],
    },
  });
  const quality = watch('quality');

  useEffect(() => {
    api<VoiceSample[]>('/v1/voices').then(setSamples).catch(setError);
  }, []);

  const voiceOptions: [string, string][] = [
    ['', t('production.defaultVoice')],
    ...builtinVoices(project.language).map(
      (voice): [string, string] => [voice.id, t('production.builtin', { name: voice.name, n: voice.variant })],
    ),
    ...samples.map((sample): [string, string] => [sample.voice_id, t('production.clone', { name: sample.name })]),
  ];

  const onSubmit = async (form: Options) => {
    setError(null);
    const voices = Object.fromEntries(
      cast.map((name, index) => [name, form.voices[index] ?? '']).filter(([, voice]) => voice !== ''),
    );
    try {
      const accepted = await api<ProductionAccepted>(`/v1/projects/${project.project_id}/productions`, {
        method: 'POST',
        json: {
          quality: form.quality,
          aspect_ratio: form.aspect_ratio,
          languages: form.languages,
          style: form.style.trim() || null,
          voices,
        },
      });
      router.push(`/production/?id=${accepted.production_id}`);
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section aria-labelledby="production-heading" className="my-6">
      <h2 id="production-heading" className="text-xl font-semibold">
        {t('production.formHeading')}
      </h2>
      <EstimateFor project={project} quality={quality} />
      <ProblemAlert error={error} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate>
        <div className="grid gap-x-4 md:grid-cols-2">
          <Select
            label={t('production.quality')}
            options={QUALITIES.map((q) => [q, t(`production.${q}`)])}
            {...register('quality')}
          />
          <Select
            label={t('production.aspect')}
            options={ASPECT_RATIOS.map((ratio) => [ratio, ratio])}
            {...register('aspect_ratio')}
          />
        </div>
        <fieldset className="my-3">
          <legend className="font-medium">{t('production.subtitles')}</legend>
          <div className="flex flex-wrap gap-x-4 gap-y-1">
            {SCRIPT_LANGUAGES.map((language) => (
              <label key={language} className="flex items-center gap-1">
                <input type="checkbox" value={language} {...register('languages')} />
                {t(`languages.${language}`)}
              </label>
            ))}
          </div>
        </fieldset>
        <Field
          label={t('production.style')}
          hint={t('production.styleHint')}
          pattern="[a-z0-9][a-z0-9_\-]{0,39}"
          {...register('style')}
        />
        <fieldset className="my-3">
          <legend className="font-medium">{t('production.voices')}</legend>
          {cast.length === 0 && <p>{t('production.noCharacters')}</p>}
          <div className="grid gap-x-4 md:grid-cols-2">
            {cast.map((name, index) => (
              <Select
                key={name}
                label={t('production.voiceFor', { name })}
                options={voiceOptions}
                {...register(`voices.${index}`)}
              />
            ))}
          </div>
        </fieldset>
        <Button type="submit" busy={formState.isSubmitting}>
          {t('production.start')}
        </Button>
      </form>
    </section>
  );
}

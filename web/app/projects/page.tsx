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
import { useRequireAuth } from '@/lib/auth';
import type { ProjectSummary } from '@/lib/types';
import { useApiData } from '@/lib/useApiData';

export default function ProjectsPage() {
  const { t } = useTranslation();
  const { signedIn } = useRequireAuth();
  const router = useRouter();
  const projects = useApiData<ProjectSummary[]>(signedIn ? '/v1/projects' : null);
  const [error, setError] = useState<unknown>(null);
  const { register, handleSubmit, formState } = useForm<{ title: string }>();

  const onSubmit = async (form: { title: string }) => {
    setError(null);
    try {
      const created = await api<{ project_id: string }>('/v1/projects', {
        method: 'POST',
        json: { title: form.title },
      });
      router.push(`/project/?id=${created.project_id}`);
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section>
      <h1 className="text-2xl font-bold">{t('projects.heading')}</h1>
      <ProblemAlert error={projects.error} />
      {projects.data && projects.data.length === 0 && <p className="my-3">{t('projects.empty')}</p>}
      {projects.data && projects.data.length > 0 && (
        <ul className="my-4 divide-y rounded border bg-white">
          {projects.data.map((project) => (
            <li key={project.project_id} className="p-3">
              <Link href={`/project/?id=${project.project_id}`} className="font-medium text-indigo-800 underline">
                {project.title}
              </Link>{' '}
              <span className="text-sm text-slate-700">
                {project.revision ? t('projects.revision', { n: project.revision }) : t('projects.noScript')}
              </span>
            </li>
          ))}
        </ul>
      )}
      <h2 className="mt-6 text-xl font-semibold">{t('projects.newHeading')}</h2>
      <ProblemAlert error={error} />
      <form onSubmit={handleSubmit(onSubmit)} noValidate className="max-w-md">
        <Field
          label={t('projects.title')}
          error={formState.errors.title?.message}
          {...register('title', { required: t('auth.required') })}
        />
        <Button type="submit" busy={formState.isSubmitting}>
          {t('projects.create')}
        </Button>
      </form>
    </section>
  );
}

'use client';

import { useDropzone } from 'react-dropzone';
import { useTranslation } from 'react-i18next';

/** The drop zone for a Fountain or text file, with a button that opens the file chooser. */
export function ScriptDrop({ onFile }: { onFile: (name: string, text: string) => void }) {
  const { t } = useTranslation();
  const { getRootProps, getInputProps, open, isDragActive } = useDropzone({
    accept: { 'text/plain': ['.txt', '.fountain', '.spmd', '.md'] },
    multiple: false,
    noClick: true,
    noKeyboard: true,
    onDropAccepted: (files) => {
      const file = files[0];
      void file.text().then((text) => onFile(file.name, text));
    },
  });
  return (
    <div
      {...getRootProps()}
      className={`my-3 flex flex-wrap items-center gap-3 rounded border-2 border-dashed p-4 ${
        isDragActive ? 'border-indigo-700 bg-indigo-50' : 'border-slate-500'
      }`}
    >
      <input {...getInputProps()} aria-label={t('editor.drop')} />
      <p>{t('editor.drop')}</p>
      <button type="button" onClick={open} className="rounded border border-slate-500 bg-white px-3 py-1">
        {t('editor.choose')}
      </button>
    </div>
  );
}

/** A progress bar with its value for assistive technology (`role="progressbar"`). */
export function ProgressBar({ label, value }: { label: string; value: number }) {
  const percent = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div className="my-2">
      <div className="flex justify-between text-sm">
        <span>{label}</span>
        <span>{percent}%</span>
      </div>
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        className="h-3 w-full overflow-hidden rounded bg-slate-200"
      >
        <div className="h-full bg-indigo-700" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

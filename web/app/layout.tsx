import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { Providers } from '@/components/Providers';
import { Nav } from '@/components/Nav';
import './globals.css';

export const metadata: Metadata = {
  title: 'AI Film Studio',
  description: 'Turn a script into a film: voices, music, subtitles.',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 text-slate-900">
        <Providers>
          <Nav />
          <main id="main" className="mx-auto max-w-4xl px-4 py-6">
            {children}
          </main>
        </Providers>
      </body>
    </html>
  );
}

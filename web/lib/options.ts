/** The choices of a production (see domain/project.py, domain/voices.py). */

export const SCRIPT_LANGUAGES = ['en', 'hi', 'sa', 'mr', 'ta', 'te', 'kn', 'ml', 'bn', 'gu', 'pa', 'ne'] as const;
export const ASPECT_RATIOS = ['16:9', '9:16', '1:1'] as const;
export const QUALITIES = ['draft', 'final'] as const;
export const VOICE_VARIANTS = 8;
const ESPEAK_VOICE: Record<string, string> = { sa: 'hi' };

export interface VoiceChoice {
  id: string;
  name: string;
  variant: number;
}

/** The built-in voices of a language: English speaks with piper's Joe, others with espeak-ng;
 * each in VOICE_VARIANTS presets of pitch and pace. */
export function builtinVoices(language: string): VoiceChoice[] {
  const [engine, voice, name] =
    language === 'en'
      ? ['piper', 'joe', 'Joe']
      : ['espeak', ESPEAK_VOICE[language] ?? language, `eSpeak ${language}`];
  return Array.from({ length: VOICE_VARIANTS }, (_, variant) => ({
    id: `${engine}:${voice}/${variant}`,
    name,
    variant,
  }));
}

/** The API's bodies the studio reads (see api/models.py and the routes). */

export interface Credits {
  balance: number;
  reserved: number;
  owed: number;
}

export interface Me {
  user_id: string;
  email: string;
  display_name: string;
  role: string;
  verified: boolean;
  email_preferences: { language: string; product_email: boolean };
  credits: Credits;
}

export interface Token {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
}

export interface Position {
  position: number;
}

export interface ProjectSummary {
  project_id: string;
  title: string;
  language: string;
  aspect_ratio: string;
  revision: number;
  archived: boolean;
  created_at: string;
  updated_at: string;
}

export type ScriptFormat = 'fountain' | 'plain';

export interface ProjectDetail extends ProjectSummary {
  script: { format: ScriptFormat | null; text: string | null };
}

export interface Estimate {
  credits: number;
  seconds: number;
}

export interface Suggestion {
  suggestion_id: string;
  scene: number;
  original: string;
  suggested: string;
  position: number;
}

export interface ProductionAccepted {
  production_id: string;
  reserved_credits: number;
  position: number;
}

export interface Stage {
  stage: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  done: number;
  total: number;
  units: { unit: string; attempt: number; status: string; error: string }[];
}

export interface ProductionSummary {
  production_id: string;
  revision: number;
  status: string;
  requested_at: string;
  updated_at: string;
  duration_seconds: number | null;
}

export interface Production {
  production_id: string;
  project_id: string;
  revision: number;
  options: Record<string, unknown>;
  credits: number;
  estimated_seconds: number;
  status: string;
  cancel_reason: string;
  requested_at: string;
  updated_at: string;
  failure: string;
  duration_seconds: number | null;
  progress: number;
  stages: Stage[];
  links: {
    film: string;
    thumbnail: string;
    subtitles: Record<string, { vtt: string; srt: string }>;
  } | null;
}

export interface Link {
  url: string;
  expires_at: string | null;
}

export interface VoiceSample {
  sample_id: string;
  voice_id: string;
  name: string;
  seconds: number;
  added_at: string;
}

export interface LedgerEntry {
  event_id: string;
  kind: string;
  amount: number;
  production_id: string | null;
  source: string | null;
  reason: string;
  position: number;
  occurred_at: string;
}

export interface CreditsOut extends Credits {
  ledger: LedgerEntry[];
  subscription: { plan_id: string; status: string; period_end: string | null } | null;
  invoices: string[];
}

export interface Plan {
  id: string;
  name: string;
  kind: 'pack' | 'subscription';
  credits: number;
  amount_cents: number;
  currency: string;
  interval: string | null;
}

export interface Publication {
  publication_id: string;
  title: string;
  privacy: string;
  state: string;
  attempts: number;
  video_id: string | null;
  url: string | null;
  failure: string | null;
  requested_at: string;
}

export interface AdminUser {
  user_id: string;
  email: string;
  display_name: string;
  role: string;
  balance: number;
  reserved: number;
  registered_at: string;
}

export interface AdminProduction {
  production_id: string;
  owner: string;
  status: string;
  requested_at: string;
  progress: number;
}

export interface DeadLetter {
  group: string;
  topic: string;
  error_type: string;
  error: string;
  at: string;
}

export interface ScriptRevised {
  revision: number;
  position: number;
}

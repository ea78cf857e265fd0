'use client';

/** The film player (Video.js), loaded only on the production page (`next/dynamic`). The
 * subtitles stay native `<track>` elements of the `<video>`, one per language. */

import { useEffect, useRef } from 'react';
import videojs from 'video.js/core.es.js';
import 'video.js/dist/video-js.css';

export interface SubtitleTrack {
  language: string;
  label: string;
  src: string;
}

function crossOrigin(url: string): boolean {
  return new URL(url, window.location.href).origin !== window.location.origin;
}

export default function Player({ src, title, tracks }: { src: string; title: string; tracks: SubtitleTrack[] }) {
  const holder = useRef<HTMLDivElement>(null);
  const trackKey = JSON.stringify(tracks);

  useEffect(() => {
    const parent = holder.current;
    if (!parent) return;
    const video = document.createElement('video');
    video.className = 'video-js vjs-big-play-centered';
    video.controls = true;
    video.preload = 'auto';
    video.playsInline = true;
    video.setAttribute('aria-label', title);
    const chosen = JSON.parse(trackKey) as SubtitleTrack[];
    if (crossOrigin(src) || chosen.some((track) => crossOrigin(track.src))) video.crossOrigin = 'anonymous';
    const source = document.createElement('source');
    source.src = src;
    source.type = 'video/mp4';
    video.appendChild(source);
    chosen.forEach((subtitle, index) => {
      const track = document.createElement('track');
      track.kind = 'subtitles';
      track.src = subtitle.src;
      track.srclang = subtitle.language;
      track.label = subtitle.label;
      track.default = index === 0;
      video.appendChild(track);
    });
    parent.appendChild(video);
    const player = videojs(video, { fluid: true, html5: { nativeTextTracks: true } });
    return () => player.dispose();
  }, [src, title, trackKey]);

  return <div ref={holder} data-vjs-player="" />;
}

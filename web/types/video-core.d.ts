/** Video.js without its HLS/DASH engine (VHS): the studio plays MP4 films only. */
declare module 'video.js/core.es.js' {
  import videojs from 'video.js';

  export default videojs;
}

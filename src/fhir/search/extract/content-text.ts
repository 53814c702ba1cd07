/** Longest text handed to to_tsvector per resource (a tsvector is limited to 1 MB). */
const CONTENT_LIMIT = 64 * 1024;

/**
 * Every string value of the resource (`_content`), without the narrative's markup and without the base64 payloads
 * of attachments, which are not words.
 */
export function collectContent(resource: any): string {
  const out: string[] = [];
  let size = 0;
  const visit = (v: any, key: string): void => {
    if (size > CONTENT_LIMIT) return;
    if (typeof v === 'string') {
      if (key === 'data' || key === 'div' || key === 'reference' || key === 'system' || key === 'url' || key === 'id') return;
      out.push(v);
      size += v.length + 1;
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, key);
    } else if (v && typeof v === 'object') {
      for (const k in v) if (k !== 'meta' && k !== 'resourceType') visit(v[k], k);
    }
  };
  visit(resource, '');
  const text = out.join(' ');
  return text.length > CONTENT_LIMIT ? text.slice(0, CONTENT_LIMIT) : text;
}

/** The narrative's text (`_text`): the XHTML of Resource.text.div without its tags. */
export function collectNarrative(resource: any): string {
  const div = resource?.text?.div;
  if (typeof div !== 'string' || !div) return '';
  const text = div.replace(/<[^>]*>/g, ' ').replace(/&[a-z]+;|&#\d+;/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > CONTENT_LIMIT ? text.slice(0, CONTENT_LIMIT) : text;
}

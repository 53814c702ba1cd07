/**
 * A searchset Bundle written as text around resources that are already JSON text (stored versions, audit records):
 * nothing is parsed or serialised again. Used by the search engine and the AuditEvent provider.
 */

/** One entry: `{"fullUrl":…,"resource":<the text as it is>,"search":{"mode":…}}`. */
export function entryText(fullUrl: string, resourceJson: string, mode: 'match' | 'include'): string {
  return `{"fullUrl":${JSON.stringify(fullUrl)},"resource":${resourceJson},"search":{"mode":"${mode}"}}`;
}

/** The Bundle: its head (every element but `entry`) serialised, then the entries (texts) when there are any. */
export function bundleText(head: object, entries: string[]): string {
  const json = JSON.stringify(head);
  return entries.length ? `${json.slice(0, -1)},"entry":[${entries.join(',')}]}` : json;
}

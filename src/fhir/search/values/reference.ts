export interface ParsedReference {
  type: string;
  id: string;
  version?: string;
  /** true when the reference was an absolute URL (the parsed type/id are its last segments) */
  absolute: boolean;
}

const RELATIVE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/.*?\/([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

/** `Patient/1`, `Patient/1/_history/2` or `https://host/fhir/Patient/1` → type, id, version. */
export function parseReference(ref: string): ParsedReference | undefined {
  let m = RELATIVE.exec(ref);
  if (m) return { type: m[1], id: m[2], version: m[3], absolute: false };
  m = ABSOLUTE.exec(ref);
  if (m) return { type: m[1], id: m[2], version: m[3], absolute: true };
  return undefined;
}

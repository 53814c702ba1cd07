import { paramId } from '../params/search-param-registry.js';

/**
 * `Location.near` (a `special` parameter): a Location's `position` is indexed as two `sp_number` rows, latitude under
 * the parameter's own id and longitude under a second id, so a bounding box is two index ranges and the exact
 * great-circle distance is computed for the few rows inside it.
 */
export const NEAR_LATITUDE_PID = paramId('Location', 'near');
export const NEAR_LONGITUDE_PID = paramId('Location', 'near:longitude');

/** Latitude and longitude of a Location, when both are numbers in range. */
export function positionOf(resource: any): [number, number] | undefined {
  const p = resource?.position;
  const lat = p?.latitude;
  const lon = p?.longitude;
  if (typeof lat !== 'number' || typeof lon !== 'number' || Math.abs(lat) > 90 || Math.abs(lon) > 180) return undefined;
  return [lat, lon];
}

import { FhirError } from '../../../operation-outcome.js';
import { NEAR_LATITUDE_PID, NEAR_LONGITUDE_PID } from '../../values/position.js';
import { orValues, splitUnescaped, unescapeValue } from '../search-values.js';
import { orJoin, type Scope, type SqlParams } from '../sql-params.js';

const EARTH_DIAMETER_KM = 12_742;
/** the distance used when a request gives none (R4 leaves it to the server) */
const DEFAULT_KM = 50;
const KM_PER: Record<string, number> = { km: 1, m: 0.001, '[mi_i]': 1.609344, mi: 1.609344, '[nmi_i]': 1.852 };

/**
 * `near=latitude|longitude|distance|units` (R4 Location): within `distance` (default 50 km; units km, m, [mi_i] or
 * [nmi_i], default km) of the point, by great-circle distance. Values are ORed as usual.
 */
export function nearCondition(sql: SqlParams, scope: Scope, raw: string, name: string): string {
  const conds = orValues(raw, true).map((v) => {
    const parts = splitUnescaped(v, '|').map(unescapeValue);
    const [lat, lon] = parts.slice(0, 2).map(Number);
    if (parts.length < 2 || parts.length > 4 || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      throw FhirError.badRequest(`${name}: expected latitude|longitude|distance|units, got '${v}'`);
    }
    const unit = parts[3] || 'km';
    if (!(unit in KM_PER)) throw FhirError.badRequest(`${name}: unknown distance unit '${unit}' (km, m, [mi_i], [nmi_i])`);
    const distance = parts[2] === undefined || parts[2] === '' ? DEFAULT_KM : Number(parts[2]) * KM_PER[unit];
    if (!Number.isFinite(distance) || distance < 0) throw FhirError.badRequest(`${name}: invalid distance '${parts[2]}'`);
    const dLat = (distance / EARTH_DIAMETER_KM) * (360 / Math.PI);
    const a = sql.alias('na');
    const b = sql.alias('nb');
    const latP = sql.p(lat, 'float8');
    const lonP = sql.p(lon, 'float8');
    const box = [`${a}.lo BETWEEN ${sql.p(String(lat - dLat), 'numeric')} AND ${sql.p(String(lat + dLat), 'numeric')}`];
    const cosLat = Math.cos((Math.min(89.9, Math.abs(lat) + dLat) * Math.PI) / 180);
    const dLon = dLat / cosLat;
    // a longitude box only where it does not wrap around the antimeridian or pass a pole
    if (dLon < 180 && lon - dLon >= -180 && lon + dLon <= 180 && Math.abs(lat) + dLat < 90) {
      box.push(`${b}.lo BETWEEN ${sql.p(String(lon - dLon), 'numeric')} AND ${sql.p(String(lon + dLon), 'numeric')}`);
    }
    const haversine = `${EARTH_DIAMETER_KM} * asin(least(1, sqrt(power(sin(radians(${a}.lo::float8 - ${latP}) / 2), 2)
        + cos(radians(${latP})) * cos(radians(${a}.lo::float8)) * power(sin(radians(${b}.lo::float8 - ${lonP}) / 2), 2))))`;
    return `EXISTS (SELECT 1 FROM sp_number ${a} JOIN sp_number ${b} ON ${b}.rid = ${a}.rid AND ${b}.pid = ${NEAR_LONGITUDE_PID}
      WHERE ${a}.rid = ${scope.alias}.rid AND ${a}.pid = ${NEAR_LATITUDE_PID} AND ${box.join(' AND ')}
        AND ${haversine} <= ${sql.p(distance, 'float8')})`;
  });
  return orJoin(conds);
}

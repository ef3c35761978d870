import { badInput } from '../errors.js';

/** Row-major float matrix: `rows` vectors of `cols` numbers each. The form every sids step takes. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export function matrix(data: Float32Array, rows: number, cols: number): Matrix {
  if (data.length !== rows * cols) {
    throw badInput(`matrix data has ${data.length} numbers; expected rows*cols = ${rows}*${cols} = ${rows * cols}`);
  }
  return { data, rows, cols };
}

/**
 * Rejects what would make k-means silently wrong: no rows, zero width, or a NaN/Infinity
 * (which poisons every centroid it touches). `what` names the rows in the message, e.g.
 * "item embeddings"; `label(i)` names row i (an item id) so the user can find it.
 */
export function checkVectors(m: Matrix, what: string, label: (row: number) => string = (r) => `row ${r}`): void {
  if (m.rows === 0) throw badInput(`${what}: no vectors to quantize (0 rows); import a catalog and build embeddings first`);
  if (m.cols === 0) throw badInput(`${what}: vectors have dimension 0; expected at least 1`);
  const { data, cols } = m;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      const r = Math.floor(i / cols);
      throw badInput(
        `${what}: ${label(r)} has ${data[i]} at dimension ${i % cols}; every value must be a finite number (re-run the encoder, or drop the row)`,
      );
    }
  }
}

/** Columns [from, to) of every row, as a new contiguous matrix. */
export function columns(m: Matrix, from: number, to: number): Matrix {
  const w = to - from;
  const out = new Float32Array(m.rows * w);
  for (let r = 0; r < m.rows; r++) out.set(m.data.subarray(r * m.cols + from, r * m.cols + to), r * w);
  return { data: out, rows: m.rows, cols: w };
}

/** The rows at `index`, as a new matrix (index may repeat). */
export function gatherRows(m: Matrix, index: ArrayLike<number>): Matrix {
  const out = new Float32Array(index.length * m.cols);
  for (let i = 0; i < index.length; i++) out.set(m.data.subarray(index[i] * m.cols, (index[i] + 1) * m.cols), i * m.cols);
  return { data: out, rows: index.length, cols: m.cols };
}

/** Scales each row to unit length in place; zero rows stay zero. */
export function normalizeRows(m: Matrix): Matrix {
  const { data, cols } = m;
  for (let r = 0; r < m.rows; r++) {
    let s = 0;
    for (let j = r * cols; j < (r + 1) * cols; j++) s += data[j] * data[j];
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let j = r * cols; j < (r + 1) * cols; j++) data[j] *= inv;
    }
  }
  return m;
}

import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { badInput, notFound } from '../errors.js';

/** A decoded photo: RGB, 8 bits per channel, row-major (grayscale files are spread to RGB). */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes. */
  rgb: Uint8Array;
  /** True when the file was grayscale (every pixel has R = G = B). */
  gray: boolean;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** The format from the file's first bytes (names and extensions lie; magic numbers do not). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return null;
}

/** Largest side accepted: a phone photo is ~4000 px; anything far beyond is not a photo. */
const MAX_SIDE = 12000;

/** Decodes PNG or JPEG bytes; anything else is a clear BAD_INPUT error naming `source`. */
export function decodeImage(bytes: Uint8Array, source = 'image'): RgbImage {
  const format = sniffImageFormat(bytes);
  if (format === null) throw badInput(`${source} is not an image: expected a PNG or JPEG file (its first bytes match neither)`);
  if (format === 'webp') throw badInput(`${source} is a WebP image; only PNG and JPEG are read: convert it (e.g. dwebp file.webp -o file.png)`);
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  try {
    if (format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } else {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 200 });
      ({ width, height } = img);
      rgba = img.data;
    }
  } catch (error) {
    throw badInput(`${source}: the ${format.toUpperCase()} data is damaged (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!(width > 0 && height > 0 && width <= MAX_SIDE && height <= MAX_SIDE)) {
    throw badInput(`${source}: image is ${width} x ${height}; expected sides of 1..${MAX_SIDE} pixels`);
  }
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  let gray = true;
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i];
    const g = rgba[4 * i + 1];
    const b = rgba[4 * i + 2];
    rgb[3 * i] = r;
    rgb[3 * i + 1] = g;
    rgb[3 * i + 2] = b;
    if (r !== g || g !== b) gray = false;
  }
  return { width, height, rgb, gray };
}

export function readImage(path: string): RgbImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw notFound(`image file ${path}`);
  }
  return decodeImage(bytes, path);
}

/**
 * A square, normalised view of an image: the centred square crop, area-averaged down (or
 * bilinearly up) to size x size, RGB in [0, 1], row-major [size, size, 3]. Encoders take this.
 */
export function squarePixels(img: RgbImage, size: number): Float32Array {
  if (!Number.isInteger(size) || size < 1) throw badInput(`image size must be a positive integer; got ${size}`);
  const side = Math.min(img.width, img.height);
  const x0 = (img.width - side) / 2;
  const y0 = (img.height - side) / 2;
  const out = new Float32Array(size * size * 3);
  const scale = side / size;
  if (scale >= 1) {
    // Area average: each output pixel is the mean of the source pixels its square covers.
    for (let oy = 0; oy < size; oy++) {
      const ya = Math.floor(y0 + oy * scale);
      const yb = Math.max(ya + 1, Math.floor(y0 + (oy + 1) * scale));
      for (let ox = 0; ox < size; ox++) {
        const xa = Math.floor(x0 + ox * scale);
        const xb = Math.max(xa + 1, Math.floor(x0 + (ox + 1) * scale));
        let r = 0;
        let g = 0;
        let b = 0;
        for (let y = ya; y < yb; y++) {
          for (let x = xa; x < xb; x++) {
            const at = (y * img.width + x) * 3;
            r += img.rgb[at];
            g += img.rgb[at + 1];
            b += img.rgb[at + 2];
          }
        }
        const norm = 1 / (255 * (yb - ya) * (xb - xa));
        const o = (oy * size + ox) * 3;
        out[o] = r * norm;
        out[o + 1] = g * norm;
        out[o + 2] = b * norm;
      }
    }
    return out;
  }
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      const sy = Math.min(side - 1, Math.max(0, (oy + 0.5) * scale - 0.5)) + y0;
      const sx = Math.min(side - 1, Math.max(0, (ox + 0.5) * scale - 0.5)) + x0;
      bilinearRgb(img.rgb, img.width, img.height, sx, sy, out, (oy * size + ox) * 3, 1 / 255);
    }
  }
  return out;
}

/** Bilinear sample of an interleaved RGB array at (x, y), clamped to the edges, scaled. */
export function bilinearRgb(src: ArrayLike<number>, w: number, h: number, x: number, y: number, out: Float32Array, o: number, scale: number): void {
  const xa = Math.floor(x);
  const ya = Math.floor(y);
  const xb = Math.min(w - 1, xa + 1);
  const yb = Math.min(h - 1, ya + 1);
  const fx = x - xa;
  const fy = y - ya;
  for (let c = 0; c < 3; c++) {
    const top = src[(ya * w + xa) * 3 + c] * (1 - fx) + src[(ya * w + xb) * 3 + c] * fx;
    const bottom = src[(yb * w + xa) * 3 + c] * (1 - fx) + src[(yb * w + xb) * 3 + c] * fx;
    out[o + c] = (top * (1 - fy) + bottom * fy) * scale;
  }
}

/** Decodes a file straight to `squarePixels`. */
export function readImagePixels(path: string, size: number): Float32Array {
  return squarePixels(readImage(path), size);
}

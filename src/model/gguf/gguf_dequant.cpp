// Dequantisation of ggml's block formats, written from the block layouts and checked bit for bit
// against the gguf package's numpy dequantize (tests/conformance/make_gguf_reference.py). Each
// value is computed with the same float32 operations in the same order; this file is compiled
// with -ffp-contract=off so that no a * b + c becomes a fused multiply-add, which rounds once.
#include <cstring>

#include "s2d/model/gguf.h"
#include "s2d/util/error.h"

namespace s2d {

namespace {

float f16_to_f32(uint16_t h) {  // IEEE half -> float, exact (subnormals, inf and NaN included)
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) mant <<= 1, --exp;
      bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
float half_at(const uint8_t* p) { return f16_to_f32(u16(p)); }

// Q4_K / Q5_K: eight 6-bit scales and mins packed in 12 bytes.
void scale_min_k4(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

void q4_0(const uint8_t* b, float* y) {  // d, 16 bytes of nibbles: y = d * (q - 8)
  const float d = half_at(b);
  for (int l = 0; l < 16; ++l) {
    y[l] = d * static_cast<float>((b[2 + l] & 0xF) - 8);
    y[l + 16] = d * static_cast<float>((b[2 + l] >> 4) - 8);
  }
}

void q4_1(const uint8_t* b, float* y) {  // d, m, nibbles: y = d * q + m
  const float d = half_at(b), m = half_at(b + 2);
  for (int l = 0; l < 16; ++l) {
    y[l] = d * static_cast<float>(b[4 + l] & 0xF) + m;
    y[l + 16] = d * static_cast<float>(b[4 + l] >> 4) + m;
  }
}

uint32_t u32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

void q5_0(const uint8_t* b, float* y) {  // d, 32 high bits, nibbles: y = d * (q - 16)
  const float d = half_at(b);
  const uint32_t qh = u32(b + 2);
  for (int l = 0; l < 16; ++l) {
    const int lo = (b[6 + l] & 0xF) | (((qh >> l) & 1) << 4), hi = (b[6 + l] >> 4) | (((qh >> (l + 16)) & 1) << 4);
    y[l] = d * static_cast<float>(lo - 16);
    y[l + 16] = d * static_cast<float>(hi - 16);
  }
}

void q5_1(const uint8_t* b, float* y) {  // d, m, 32 high bits, nibbles: y = d * q + m
  const float d = half_at(b), m = half_at(b + 2);
  const uint32_t qh = u32(b + 4);
  for (int l = 0; l < 16; ++l) {
    const int lo = (b[8 + l] & 0xF) | (((qh >> l) & 1) << 4), hi = (b[8 + l] >> 4) | (((qh >> (l + 16)) & 1) << 4);
    y[l] = d * static_cast<float>(lo) + m;
    y[l + 16] = d * static_cast<float>(hi) + m;
  }
}

void q8_0(const uint8_t* b, float* y) {  // d, 32 int8: y = q * d
  const float d = half_at(b);
  for (int l = 0; l < 32; ++l) y[l] = static_cast<float>(static_cast<int8_t>(b[2 + l])) * d;
}

// Q4_K: d, dmin, scales[12], qs[128]; Q5_K: the same with qh[32] before qs, whose bit j of qh[l]
// is the fifth bit of sub-block j. Sub-block j (32 values) is nibble j % 2 of qs[32 (j / 2) ..],
// times its 6-bit scale, minus its 6-bit min.
template <bool kFifthBit>
void qk_4_5(const uint8_t* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* s = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + (kFifthBit ? 48 : 16);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, s, sc, m);
    const float dj = d * static_cast<float>(sc), mj = dmin * static_cast<float>(m);
    const uint8_t* q = qs + 32 * (j / 2);
    for (int l = 0; l < 32; ++l) {
      int v = j % 2 ? q[l] >> 4 : q[l] & 0xF;
      if (kFifthBit) v |= ((qh[l] >> j) & 1) << 4;
      y[32 * j + l] = dj * static_cast<float>(v) - mj;
    }
  }
}

// Q6_K: ql[128], qh[64], int8 scales[16], d. Per half h (128 values) and chunk c of 32: low or
// high nibble of ql[64h + 32 (c % 2) ..], two bits of qh[32h ..] at 2c; one scale per 16 values.
void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int e = 128 * h + 32 * c + l;
        const uint8_t lo = ql[64 * h + 32 * (c % 2) + l];
        const int q = ((c < 2 ? lo & 0xF : lo >> 4) | (((qh[32 * h + l] >> (2 * c)) & 3) << 4)) - 32;
        y[e] = (d * static_cast<float>(sc[e / 16])) * static_cast<float>(q);
      }
}

}  // namespace

std::vector<float> dequantize(const GgufTensor& t, const std::string& file) {
  int64_t values = 0, bytes = 0;
  if (!ggml_block_layout(t.type, values, bytes))
    throw_input("unsupported tensor type",
                {.file = file, .field = "tensor " + t.name, .found = ggml_type_name(t.type)});
  const int64_t n = t.numel(), blocks = n / values;
  std::vector<float> out(static_cast<size_t>(n));
  float* y = out.data();
  const uint8_t* p = t.data;
  switch (static_cast<GgmlType>(t.type)) {
    case GgmlType::F32: std::memcpy(y, p, static_cast<size_t>(n) * 4); break;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) y[i] = half_at(p + 2 * i);
      break;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t bits = static_cast<uint32_t>(u16(p + 2 * i)) << 16;
        std::memcpy(&y[i], &bits, 4);
      }
      break;
    default: {
      void (*block)(const uint8_t*, float*) = nullptr;
      switch (static_cast<GgmlType>(t.type)) {
        case GgmlType::Q4_0: block = q4_0; break;
        case GgmlType::Q4_1: block = q4_1; break;
        case GgmlType::Q5_0: block = q5_0; break;
        case GgmlType::Q5_1: block = q5_1; break;
        case GgmlType::Q8_0: block = q8_0; break;
        case GgmlType::Q4_K: block = qk_4_5<false>; break;
        case GgmlType::Q5_K: block = qk_4_5<true>; break;
        case GgmlType::Q6_K: block = q6_k; break;
        default: break;
      }
      for (int64_t i = 0; i < blocks; ++i) block(p + i * bytes, y + i * values);
    }
  }
  return out;
}

}  // namespace s2d

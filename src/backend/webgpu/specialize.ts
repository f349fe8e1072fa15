// Feature variants of the WGSL in src/wgsl/: one source per op family, with sections that apply only where
// the adapter offers a feature, so the f32 path and its variants cannot drift apart.
//   //#if subgroups      (or f16)
//   ... used when the feature is on
//   //#else
//   ... used when it is off
//   //#endif
// Sections do not nest. The `enable` directives a variant needs go in front of the whole module.

export interface ShaderFeatures {
  /** `shader-f16`: weights stored as f16 (`alias WT = f16`), arithmetic in f32 */
  f16: boolean;
  /** `subgroups`: reductions through subgroup operations */
  subgroups: boolean;
  /** WGSL language feature `packed_4x8_integer_dot_product`: int8 weights on dot4I8Packed (quant.wgsl) */
  packed?: boolean;
}

export function specialize(src: string, f: ShaderFeatures): string {
  const out: string[] = [];
  let section: { on: boolean; inElse: boolean } | null = null;
  for (const [i, line] of src.split('\n').entries()) {
    const m = /^\s*\/\/#(if|else|endif)\b\s*(\w*)/.exec(line);
    if (m) {
      if (m[1] === 'if') {
        if (section) throw new Error(`WGSL line ${i + 1}: //#if sections do not nest`);
        if (!['f16', 'subgroups', 'packed'].includes(m[2])) throw new Error(`WGSL line ${i + 1}: unknown feature "${m[2]}"`);
        section = { on: !!f[m[2] as keyof ShaderFeatures], inElse: false };
      } else if (!section) {
        throw new Error(`WGSL line ${i + 1}: //#${m[1]} without //#if`);
      } else if (m[1] === 'else') {
        section.inElse = true;
      } else {
        section = null;
      }
      out.push(''); // keep line numbers of compiler messages
      continue;
    }
    out.push(!section || section.on !== section.inElse ? line : '');
  }
  if (section) throw new Error('WGSL: //#if without //#endif');
  const enable = [f.f16 ? 'enable f16;' : '', f.subgroups ? 'enable subgroups;' : ''].filter((s) => s).join(' ');
  // on the first line, so compiler line numbers stay those of the sources
  return enable ? enable + ' ' + out.join('\n') : out.join('\n');
}

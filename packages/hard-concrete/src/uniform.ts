/**
 * The counter-based uniforms (u_i a pure function of (seed, i)) live in @diffprune/core, which also
 * draws dropout masks from them; re-exported here under the names hard-concrete always used.
 */
export { fillUniform, type UniformKey, uniformAt, uniformKey, uniformShapeSize } from '@diffprune/core';

// The kernel module's exports: one file per op family, each op a forward/backward pair.
export { heapBase } from './common';
export { matmul, matmulScratchBytes, matmulShares, matmulRowShares, matmulPackedBytes, matmulPackB, matmulRows, matmulPackedABytes, matmulPackA, matmulCols, biasBackward, gemvSlabBytes, gemvSlabs, gemvFold } from './matmul';
export { matmulQ, matmulQScratchBytes, encoderForwardQ, q8BlockSums, dotI8Pairs } from './quant';
export { attentionForward, attentionBackward, attentionScratchBytes, attentionShares, decodeScratchBytes, kvCacheWrite, attentionCached, kvCacheWriteRagged, attentionRagged } from './attention';
export { kvCacheWriteHalf, attentionCachedHalf, kvCacheWriteRaggedHalf, attentionRaggedHalf, halfAttentionScratchBytes, widenCache } from './halfkv';
export { layernormForward, layernormBackwardInput, layernormBackwardParams } from './layernorm';
export { geluForward, geluBackward, residualForward, accumulate, dropout } from './elementwise';
export { crossEntropyForward, crossEntropyReduce, crossEntropyBackward } from './softmax';
export { encoderForward, encoderBackward, gatherRows, scatterAddRows } from './rows';
export { sumSquaresPartial, sumSquaresFinish, adamw } from './adamw';
export { fillWords } from './memory';

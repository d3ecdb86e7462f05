/**
 * The WebGPU backend's buffers and bindings, as src/runtime/webgpu/backend.ts sets them up
 * (prepare), for the benchmark's kernel-only loop and first-dispatch timing. If the backend
 * changes them, pipeline or bind group creation here fails with a validation error, which
 * bench/run.ts reports; keep the two in step.
 */
import type { BufferLayout } from '../src/codegen/layout.js';
import { STEP_UNIFORM_STRIDE, spikeListBase } from '../src/codegen/wgsl/kernel.js';

export function backendBindGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    entries: [
      ...[0, 1, 2].map((binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'storage' as const },
      })),
      {
        binding: 3,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform' as const, hasDynamicOffset: true, minBindingSize: 16 },
      },
      {
        binding: 4,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'read-only-storage' as const },
      },
    ],
  });
}

export interface BackendBuffers {
  readonly state: GPUBuffer;
  /** Rings and counters, then the spike list (count, then pairs) from word spikeListBase(layout). */
  readonly events: GPUBuffer;
  readonly record: GPUBuffer;
  readonly info: GPUBuffer;
  readonly conn: GPUBuffer;
  readonly bindGroup: GPUBindGroup;
  destroy(): void;
}

/** Buffers for chunks of `chunkSteps` steps, the state uploaded, bound to `bindGroupLayout`. */
export function backendBuffers(
  device: GPUDevice,
  bindGroupLayout: GPUBindGroupLayout,
  layout: BufferLayout,
  chunkSteps: number,
  initialState: Float32Array,
): BackendBuffers {
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const state = device.createBuffer({
    size: Math.max(16, layout.totalStateFloats * 4),
    usage: storage,
  });
  const events = device.createBuffer({
    size: 4 * (spikeListBase(layout) + 1 + 2 * layout.totalNeurons * chunkSteps),
    usage: storage,
  });
  const record = device.createBuffer({
    size: Math.max(16, 4 * layout.recordRow * chunkSteps),
    usage: storage,
  });
  const info = device.createBuffer({
    size: STEP_UNIFORM_STRIDE * chunkSteps,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const conn = device.createBuffer({
    size: Math.max(16, 4 * layout.connectivityWords),
    usage: storage,
  });
  layout.forEachConnectivityPiece((piece, offset) =>
    device.queue.writeBuffer(conn, 4 * offset, piece),
  );
  device.queue.writeBuffer(state, 0, initialState);
  const bindGroup = device.createBindGroup({
    layout: bindGroupLayout,
    entries: [
      { binding: 0, resource: { buffer: state } },
      { binding: 1, resource: { buffer: events } },
      { binding: 2, resource: { buffer: record } },
      { binding: 3, resource: { buffer: info, size: 16 } },
      { binding: 4, resource: { buffer: conn } },
    ],
  });
  return {
    state,
    events,
    record,
    info,
    conn,
    bindGroup,
    destroy: () => {
      for (const b of [state, events, record, info, conn]) b.destroy();
    },
  };
}

/** The per-step uniform blocks of a chunk: (step, chunk step) at a 256-byte stride. */
export function stepInfo(firstStep: number, steps: number): Uint32Array {
  const info = new Uint32Array((STEP_UNIFORM_STRIDE / 4) * steps);
  for (let s = 0; s < steps; s++) info.set([firstStep + s, s], (STEP_UNIFORM_STRIDE / 4) * s);
  return info;
}

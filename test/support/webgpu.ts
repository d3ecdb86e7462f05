/**
 * Shared WebGPU test helper: open a device (a real GPU if there is one, else Mesa's software
 * OpenGL ES driver, see docs/webgpu-on-cpu.md), compile WGSL, run a compute shader over
 * storage buffers and read them back.
 *
 * Typical use in a test file:
 *
 *   const opened = await openWebGpu();
 *   if (!opened.ok) console.warn(`WebGPU tests skipped: ${opened.reason}`);
 *   describe.skipIf(!opened.ok)('...', () => { afterAll(() => opened.ok && opened.gpu.close()); ... });
 */
export {
  type CompiledWgsl,
  type OpenWebGpuResult,
  type WebGpu,
  compileWgsl,
  formatCompilationMessages,
  openWebGpu,
} from '../../src/runtime/webgpu/device.js';

/**
 * A storage buffer at `@group(0) @binding(i)`, i being its position in the list: either
 * initial contents, or a byte length for a zero-filled output.
 */
export type StorageBufferSpec =
  { readonly data: ArrayBufferView } | { readonly byteLength: number };

/** What `runCompute` runs. */
export interface ComputeJob {
  readonly module: GPUShaderModule;
  readonly entryPoint: string;
  readonly buffers: readonly StorageBufferSpec[];
  /** Workgroup counts in x, y, z. */
  readonly workgroups: readonly [number, number, number];
}

/**
 * Runs one compute dispatch and returns the final contents of every storage buffer, in
 * binding order. Validation errors (bad bindings, limits) are thrown, not left to the log.
 */
export async function runCompute(device: GPUDevice, job: ComputeJob): Promise<ArrayBuffer[]> {
  device.pushErrorScope('validation');
  const buffers = job.buffers.map((spec) => {
    const size = 'data' in spec ? spec.data.byteLength : spec.byteLength;
    const storage = device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if ('data' in spec) device.queue.writeBuffer(storage, 0, spec.data);
    const readback = device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    return { storage, readback };
  });
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: { module: job.module, entryPoint: job.entryPoint },
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map(({ storage }, binding) => ({ binding, resource: { buffer: storage } })),
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...job.workgroups);
  pass.end();
  for (const { storage, readback } of buffers) {
    encoder.copyBufferToBuffer(storage, 0, readback, 0, storage.size);
  }
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error !== null) {
    for (const { storage, readback } of buffers) {
      storage.destroy();
      readback.destroy();
    }
    throw new Error(`WebGPU validation error: ${error.message}`);
  }
  return Promise.all(
    buffers.map(async ({ storage, readback }) => {
      await readback.mapAsync(GPUMapMode.READ);
      const contents = readback.getMappedRange().slice(0);
      readback.destroy();
      storage.destroy();
      return contents;
    }),
  );
}

// Runs TF.js layers models in Node (cpu backend) the way the plan's loading snippet does: tf.loadLayersModel over
// HTTP, predict on a fixed input. Prints {case: [outputs...]} as one JSON line.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(process.cwd() + '/');
const tf = require('@tensorflow/tfjs');

const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
await tf.setBackend('cpu');
const out = {};
for (const job of jobs) {
  const model = await tf.loadLayersModel(job.url);
  const y = model.predict(tf.tensor(Float32Array.from(job.input), job.shape));
  out[job.case] = Array.from(await y.data());
}
console.log(JSON.stringify(out));

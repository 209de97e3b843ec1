// Child process of the fuzz harness: builds and runs the cases the parent sends, one at a time, and replies
// with each result. The parent kills this process when a case takes too long.

import { buildCase } from './mutate.js';
import { cleanUp, runCase } from './run-case.js';

interface Request {
  seed: number;
  index: number;
}

process.on('message', async (request: Request | 'exit') => {
  if (request === 'exit') {
    cleanUp();
    process.exit(0);
  }
  const fuzzCase = buildCase(request.seed, request.index);
  const result = await runCase(fuzzCase);
  process.send!({ index: request.index, result });
});

process.on('exit', cleanUp);
process.send!('ready');

// The thread-count choice that loadModel logs once: the requested count where shared memory works, one
// thread with the reason where it does not, and a warning when threads outnumber the hardware threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseThreads, type ThreadSupport } from '../src/runtime/platform.js';

const node: ThreadSupport = { runtime: 'node', shared: true, hardwareThreads: 2, reason: '' };

test('default threads follow the hardware', () => {
  const choice = chooseThreads(node);
  assert.is(choice.threads, 2);
  assert.is(choice.shared, true);
  assert.not.match(choice.description, /Warning/);
});

test('more threads than hardware threads warn', () => {
  const choice = chooseThreads(node, 3);
  assert.is(choice.threads, 3);
  assert.match(choice.description, /Warning: this machine has 2 hardware threads/);
});

test('one thread without shared memory', () => {
  const page: ThreadSupport = { runtime: 'browser', shared: false, hardwareThreads: 8, reason: 'the page is not cross-origin isolated' };
  const choice = chooseThreads(page, 4);
  assert.is(choice.threads, 1);
  assert.is(choice.shared, false);
  assert.match(choice.description, /instead of 4: the page is not cross-origin isolated/);
});

test.run();

// Mocha's spec reporter, plus each failure's error printed as it happens, not only in the summary at the end:
// a GPU run cut by its time limit (scripts/gpu-suite.sh) still shows why the tests before the cut failed.
// Usage: mocha --reporter scripts/mocha-inline-reporter.cjs
const { reporters } = require('mocha');

class InlineSpec extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.on('fail', (test, err) => {
      const text = err && err.stack ? err.stack : String(err);
      console.log(`      failed: ${test.fullTitle()}\n${text.replace(/^/gm, '        ')}`);
    });
  }
}

module.exports = InlineSpec;

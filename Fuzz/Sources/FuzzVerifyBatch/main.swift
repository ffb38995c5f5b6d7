import DecoderChecks
import FuzzSupport

// libFuzzer target: `POST /verify/batch` envelope.
runFuzzer(DecoderChecks.verifyBatch)

import DecoderChecks
import FuzzSupport

// libFuzzer target: verify request JSON (`POST /verify`).
runFuzzer(DecoderChecks.verifyRequest)

import DecoderChecks
import FuzzSupport

// libFuzzer target: `POST /policy` bodies, operator and payer-signed.
runFuzzer(DecoderChecks.policyRequest)

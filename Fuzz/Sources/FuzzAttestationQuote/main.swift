import DecoderChecks
import FuzzSupport

// libFuzzer target: attestation quotes, through the full verifier.
runFuzzer(DecoderChecks.attestationQuote)

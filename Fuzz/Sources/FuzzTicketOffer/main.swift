import DecoderChecks
import FuzzSupport

// libFuzzer target: ticket offers (`extra.ticket`) and ticket scopes.
runFuzzer(DecoderChecks.ticketOffer)

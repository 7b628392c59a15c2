package handlers

// ClientAddress exposes clientAddress to the external tests, which pin how
// a request's client address is chosen.
var ClientAddress = clientAddress

// PathVar exposes pathVar, whose malformed-escape case net/http never lets
// through to a handler.
var PathVar = pathVar

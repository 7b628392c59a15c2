package handlers

// ClientAddress exposes clientAddress to the external tests, which pin how
// a request's client address is chosen.
var ClientAddress = clientAddress

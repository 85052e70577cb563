#pragma once
// The test CA, and a server certificate and key it issued, shared by the TLS tests and the dialogue's
// STARTTLS tests.

namespace test_tls_material {

// Throwaway test material made with openssl for these tests only (validity 2020-2120, so the tests do
// not start failing with the calendar). None of it protects anything.
// The test CA (ECDSA P-256, self-signed, 2020-2120).
inline const char* const test_ca_pem = R"(-----BEGIN CERTIFICATE-----
MIIBbzCCARSgAwIBAgICEAAwCgYIKoZIzj0EAwIwHTEbMBkGA1UEAwwScmVsYXln
dWFyZCB0ZXN0IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAwMTAxMDAwMDAwWjAd
MRswGQYDVQQDDBJyZWxheWd1YXJkIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQrfxuR8FJ9PhxYZaYg5ve2cWwNNoc/apawyvHnv8HH0jdCcr6ERQgX
AlPZBRYpKJ3BFyZEjF6P8rUFci5KR1tyo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4G
A1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQU+XEXCEsGVreiVKYjy0kH6RYvnLEwCgYI
KoZIzj0EAwIDSQAwRgIhAM6oQaZlwIgaqCXSTfW9up9FMdgZGJ9nuB+ztWQySlET
AiEAqZ+WY3rNbnA0ckBJ24nV8Ckk10eikcsDhmpWhYWT2Xk=
-----END CERTIFICATE-----
)";

// mail.example.test (subjectAltName DNS:mail.example.test), issued by the test CA.
inline const char* const server_certificate_pem = R"(-----BEGIN CERTIFICATE-----
MIIBvTCCAWOgAwIBAgICEAEwCgYIKoZIzj0EAwIwHTEbMBkGA1UEAwwScmVsYXln
dWFyZCB0ZXN0IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAwMTAxMDAwMDAwWjAc
MRowGAYDVQQDDBFtYWlsLmV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABKQBW6HUI123NNg+b5zJS8268HfE+LsLCts6dGM1KVAWEZNblbkJbLez
xkVGhV6HXrJFoHD43zG3RFX720EUwsWjgZEwgY4wHAYDVR0RBBUwE4IRbWFpbC5l
eGFtcGxlLnRlc3QwCQYDVR0TBAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAww
CgYIKwYBBQUHAwEwHwYDVR0jBBgwFoAU+XEXCEsGVreiVKYjy0kH6RYvnLEwHQYD
VR0OBBYEFGJBoR1wAuD+RG1r+U6oVEjSfZL+MAoGCCqGSM49BAMCA0gAMEUCIQDQ
DXFaaRWJymUGPU0GKejXdHjnBFMgEd1YriEZA7qf4wIgXOw+qhLwSiO0MNWVD6M5
ecm5wGtsyOkpa/4Da1ggs54=
-----END CERTIFICATE-----
)";

// Its key.
inline const char* const server_key_pem = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIF4dLBL/Z7twiw+WQey+5dRTIIZReX/kS/tJaLuAxycwoAoGCCqGSM49
AwEHoUQDQgAEpAFbodQjXbc02D5vnMlLzbrwd8T4uwsK2zp0YzUpUBYRk1uVuQls
t7PGRUaFXodeskWgcPjfMbdEVfvbQRTCxQ==
-----END EC PRIVATE KEY-----
)";

} // namespace test_tls_material

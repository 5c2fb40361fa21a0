package apk_test

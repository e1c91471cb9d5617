"""logg: the store of stafettlogger. Ciphertext, participants and key grants; decides access."""

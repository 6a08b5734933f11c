/* placeholder until this layer lands */
int main(void) { return 0; }

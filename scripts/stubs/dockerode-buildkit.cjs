// Stands in for dockerode's BuildKit progress reader (protobufjs): the host service builds no images.
module.exports = {
  followProgress() {
    throw new Error('BuildKit image builds are not part of the host service build');
  },
};
